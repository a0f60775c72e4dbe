"""Named, versioned inversion benchmarks: what data, which split, which protocol, and the
reference card measured on them (:mod:`sciml_grow.bench.registry`)."""

from sciml_grow.bench.registry import (
    BUILTIN,
    Benchmark,
    check_card,
    data_summary,
    get_benchmark,
    read_card,
)

__all__ = ["BUILTIN", "Benchmark", "check_card", "data_summary", "get_benchmark", "read_card"]
