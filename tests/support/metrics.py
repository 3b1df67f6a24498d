"""Reading a Prometheus text exposition in tests: every sample by ``name{labels}``."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families


def parse(text: str) -> dict[str, float]:
    """Samples of a text exposition by ``name{labels}``."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def sample(samples: dict[str, float], name: str, **labels: Any) -> float | None:
    """One sample from :func:`parse`'s result, by name and labels."""
    key = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return samples.get(f"{name}{{{key}}}" if key else name)
