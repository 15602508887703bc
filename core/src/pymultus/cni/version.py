"""CNI spec versions: the list we speak, parsing and ordering."""

from __future__ import annotations

from typing import Final

from pymultus.cni.env import go_quote
from pymultus.cni.errors import INCOMPATIBLE_CNI_VERSION
from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import CniError

#: Every spec version, oldest first (libcni ``version.All``).
ALL_VERSIONS: Final = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
CURRENT: Final = "1.1.0"


def parse(version: str) -> tuple[int, int, int]:
    """``""`` is 0.1.0; up to three numeric parts (``"1"`` is 1.0.0). Errors carry
    Go's ``version.ParseVersion`` texts."""
    if version == "":
        return (0, 1, 0)
    parts = version.split(".")
    if len(parts) > 3:
        raise CniError(
            INCOMPATIBLE_CNI_VERSION, f"invalid version {go_quote(version)}: too many parts"
        )
    nums: list[int] = []
    for what, part in zip(("major", "minor", "micro"), parts, strict=False):
        num = _atoi(part)
        if num is None:
            raise CniError(
                INCOMPATIBLE_CNI_VERSION,
                f"failed to convert {what} version part {go_quote(part)}: "
                f"strconv.Atoi: parsing {go_quote(part)}: invalid syntax",
            )
        nums.append(num)
    while len(nums) < 3:
        nums.append(0)
    return (nums[0], nums[1], nums[2])


def _atoi(part: str) -> int | None:
    """Go's ``strconv.Atoi`` on ASCII decimal text (an optional sign, then digits)."""
    digits = part[1:] if part[:1] in ("+", "-") else part
    if not digits or not all("0" <= ch <= "9" for ch in digits):
        return None
    return int(part)


def greater_or_equal(version: str, other: str) -> bool:
    return parse(version) >= parse(other)


def family(version: str) -> str:
    """Which result type serves ``version``: ``"020"``, ``"040"`` or ``"100"``."""
    if version in ("", "0.1.0", "0.2.0"):
        return "020"
    if version in ("0.3.0", "0.3.1", "0.4.0"):
        return "040"
    if version in ("1.0.0", "1.1.0"):
        return "100"
    # Go's ``create.Create`` returns a plain error (code 999 once a plugin returns it).
    raise CniError(INTERNAL, f'unsupported CNI result version "{version}"')


FAMILY_VERSIONS: Final = {
    "020": ("0.1.0", "0.2.0"),
    "040": ("0.3.0", "0.3.1", "0.4.0"),
    "100": ("1.0.0", "1.1.0"),
}
