"""A variant: a kernel family's name plus one concrete config. Plain data, no kernel code, so
the rule engine, the search and the reports can hold variants without importing Triton."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    family: str
    config: dict

    @property
    def id(self) -> str:
        """A file-name-safe identity: family-KEYvalue-... in the family's parameter order."""
        return "-".join([self.family] + [f"{k}{v}" for k, v in self.config.items()])

    @property
    def spec(self) -> str:
        """The command-line form, accepted back by registry.parse_variant (a candidate's: its family)."""
        params = ",".join(f"{k}={v}" for k, v in self.config.items())
        return f"{self.family}:{params}" if params else self.family

    def with_changes(self, changes: dict) -> "Variant":
        return Variant(self.family, {**self.config, **changes})

    def to_dict(self) -> dict:
        return {"id": self.id, "family": self.family, "config": dict(self.config)}

    def __hash__(self):
        return hash(self.id)
