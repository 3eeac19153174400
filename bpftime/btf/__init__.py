"""Our parser of BTF (.BTF) and its extension (.BTF.ext), and a BTF-driven value decoder."""
from bpftime.btf.btf import Btf
from bpftime.btf.ext import BtfExt, CoreRelo, CoreReloKind, FuncInfo, LineInfo, parse_btf_ext
from bpftime.btf.parser import parse_btf
from bpftime.btf.types import BtfType, EnumValue, Kind, Linkage, Member, Param, SecInfo
from bpftime.btf.value import decode_value

__all__ = ["Btf", "BtfExt", "BtfType", "CoreRelo", "CoreReloKind", "EnumValue", "FuncInfo",
           "Kind", "LineInfo", "Linkage", "Member", "Param", "SecInfo", "decode_value",
           "parse_btf", "parse_btf_ext"]
