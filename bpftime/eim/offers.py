"""What a resolved development-time file offers: its state, functions and entries,
each as a JSON-ready record and as one line (`bpftime verify DEV.eim.yaml`)."""
from __future__ import annotations

from bpftime.eim.model import Development


def offers(dev: Development) -> list[dict]:
    """One record per state capability, function capability and entry, in file order.
    Addresses are the symbols' virtual addresses in the host file (PIE: offsets)."""
    spec = dev.spec
    records: list[dict] = []
    for name, var in dev.variables.items():
        records.append({"kind": "state", "name": name, "symbol": var.symbol, "size": var.size,
                        "access": "write" if var.writable else "read",
                        "address": dev.addresses[var.symbol]})
    for name, fn in dev.functions.items():
        records.append({"kind": "function", "name": name, "symbol": fn.symbol,
                        "prototype": spec.functions[name].prototype.text,
                        "constraints": [c.text for c in fn.constraints],
                        "address": dev.addresses[fn.symbol]})
    for name, entry in dev.entries.items():
        records.append({"kind": "entry", "name": name, "symbol": entry.function, "at": entry.at,
                        "prototype": entry.prototype.text if entry.prototype else None,
                        "address": entry.address, "size": entry.size})
    return records


def offer_line(record: dict) -> str:
    """`state readCounter: demo_counter, 8 bytes, read, at 0x4010` and the like."""
    head = f"{record['kind']} {record['name']}: {record['symbol']}"
    if record["kind"] == "state":
        return f"{head}, {record['size']} bytes, {record['access']}, at {record['address']:#x}"
    proto = f" \"{record['prototype']}\"" if record["prototype"] else " (no prototype)"
    if record["kind"] == "function":
        constraints = f" [{', '.join(record['constraints'])}]" if record["constraints"] else ""
        return f"{head}{proto}{constraints}, at {record['address']:#x}"
    return (f"{head} at {record['at']}{proto}, at {record['address']:#x} "
            f"({record['size']} bytes)")
