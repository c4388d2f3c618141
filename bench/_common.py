"""What the evaluation benchmarks share: the device line and the side-by-side table of rates and ratios."""

from __future__ import annotations


def device_label(device: str) -> str:
    import torch

    return torch.cuda.get_device_name() if device.startswith("cuda") else \
        f"{device} ({torch.get_num_threads()} threads)"


def print_ratios(docs: int, times: dict[str, list[float]], labels: dict[str, str], notes: dict[str, str] = None):
    """One line per side: documents/s of its best round and its ratio to the authors' (the first side)."""
    authors_rate = docs / min(times["authors"])
    for name, label in labels.items():
        rate = docs / min(times[name])
        print(f"{label:<44} {rate:8.2f} docs/s {min(times[name]):7.2f} s  ratio to authors {rate / authors_rate:5.2f}x"
              + (f"  {notes[name]}" if notes else ""))
