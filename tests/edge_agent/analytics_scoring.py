"""Precision / recall bookkeeping for the SYNTHETIC-scene analytics tests (printed with `pytest -s`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, predicted: bool, actual: bool) -> None:
        if predicted and actual:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif actual:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def line(self, name: str, unit: str, extra: str = "") -> str:
        total = self.tp + self.fp + self.fn + self.tn
        text = f"SYNTHETIC {name}: {extra}precision {self.precision:.2f} recall {self.recall:.2f} over {total} {unit}"
        print(text)
        return text
