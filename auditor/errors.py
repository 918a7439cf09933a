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


class UnknownFederationError(UnusableInputError):
    """`--federation` named a federation the config does not have: nothing was scanned (exit 3).

    Its own type, so that the CLI reports exactly this and never mistakes another error (a
    KeyError from a bug, say) for a typo in a federation name.
    """

    def __init__(self, name: str, known: tuple[str, ...], config_path: str | None = None) -> None:
        self.name, self.known = name, known
        self.message = f"no federation named {name!r}; the config has: {', '.join(known)}"
        super().__init__([InputProblem(config_path or "--federation", None, None, self.message,
                                       "pass one of the names above with --federation")])

    def __str__(self) -> str:
        return self.message
