"""The x86-64 JIT: eBPF programs to position-independent program images.

    compile_program(insns, helper_available=None) -> ProgramImage   (codegen)
    ProgramImage.to_bytes() / ProgramImage.from_bytes(data)          (image)
    slot_values(image, Resolver(...)) -> list[int]; LoadedImage(image, values)  (loader)
"""
