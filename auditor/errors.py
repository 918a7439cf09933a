"""Errors for unusable input (exit code 3). Each names the file, line and the fix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class InputProblem:
    """One problem in a config or policy file."""

    file: str
    line: int | None
    column: int | None
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class UnusableInputError(Exception):
    """The config or a policy cannot be used: nothing was scanned (exit code 3)."""

    def __init__(self, problems: list[InputProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ConfigError(UnusableInputError):
    """The config file is unusable."""


class PolicyError(UnusableInputError):
    """A policy file is unusable."""
