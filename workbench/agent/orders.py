"""The bundled order book: a small YAML file standing in for an external order system."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from workbench.errors import InputFileError


@dataclass(frozen=True)
class Order:
    number: str  # "NW-48213"
    customer: str
    product: str
    status: str  # "processing" | "shipped" | "delivered" | "cancelled" | "on hold"
    detail: str  # one speakable sentence about where it is


class OrderBook:
    """Look-ups by order number ("NW-48213"; the "NW-" prefix is optional)."""

    def __init__(self, orders: list[Order]) -> None:
        self._orders = {o.number.upper(): o for o in orders}

    @classmethod
    def load(cls, path: Path) -> OrderBook:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            orders = [Order(**{k: str(v) for k, v in item.items()}) for item in data["orders"]]
        except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
            raise InputFileError(f"{path}: not a valid order book ({error})") from None
        return cls(orders)

    def lookup(self, number: str) -> Order | None:
        key = number.upper()
        if not key.startswith("NW-"):
            key = "NW-" + key.removeprefix("NW")
        return self._orders.get(key)

    def numbers(self) -> list[str]:
        return sorted(self._orders)

    def __len__(self) -> int:
        return len(self._orders)
