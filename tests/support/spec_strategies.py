"""Hypothesis strategies for ModelDeployment specs: JSON of any shape, and structured specs whose fields
are mostly plausible and sometimes garbage (the property tests of parse_spec and of the API server's
acceptance of what it builds)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def field(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly plausible values, one time in six garbage of any JSON shape (more would reject nearly every
    spec at its first field and leave the builders untested)."""
    return st.integers(0, 5).flatmap(lambda i: json_values if i == 0 else valid)


uris = st.sampled_from(
    ["gs://b/m", "s3://b/m", "https://h/m", "http://h", "pvc://claim/p", "pvc://c", "s3://b"]
)
ints = st.integers(min_value=0, max_value=40) | st.integers(min_value=-2, max_value=70000)
model = st.fixed_dictionaries(
    {"uri": field(uris)},
    optional={
        "name": field(st.sampled_from(["resnet", "bert.v2", "m_1"])),
        "versionPolicy": field(
            st.sampled_from([{"latest": 1}, {"all": {}}])
            | st.builds(lambda v: {"specific": v}, st.lists(ints, max_size=4))
        ),
        "versionLabels": field(
            st.dictionaries(st.sampled_from(["stable", "canary", "Bad"]), ints, max_size=3)
        ),
        "size": field(st.sampled_from(["1Gi", "3Gi", "500M", "2e9", "x", "0"])),
        "sizeLimit": field(st.sampled_from(["1Gi", "2Gi", "1500Mi", "10G", "5m"])),
    },
)
DIGEST = "@sha256:" + "0123456789abcdef" * 4
selectors = st.fixed_dictionaries(
    {},
    optional={
        "matchLabels": field(
            st.dictionaries(st.sampled_from(["team", "a/b", "bad key"]), st.text(max_size=4))
        ),
        "matchExpressions": field(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "key": st.sampled_from(["app", "tier"]),
                        "operator": st.sampled_from(["In", "Exists", "Is"]),
                    },
                    optional={"values": st.lists(st.sampled_from(["web", "a b"]), max_size=2)},
                ),
                max_size=2,
            )
        ),
    },
)
access = st.fixed_dictionaries(
    {},
    optional={
        "from": field(
            st.lists(
                st.fixed_dictionaries(
                    {}, optional={"namespaceSelector": selectors, "podSelector": selectors}
                ),
                max_size=3,
            )
        )
    },
)
runtime = st.fixed_dictionaries(
    {},
    optional={
        "version": field(st.sampled_from(["2.19.0", "latest", "bad tag"])),
        "image": field(
            st.sampled_from(
                ["tensorflow/serving", "r.io:5000/tf/serving", "x:1", f"tf/serving{DIGEST}", "tf/s@sha256:0a"]
            )
        ),
        "batching": field(
            st.fixed_dictionaries(
                {},
                optional={
                    "maxBatchSize": ints,
                    "batchTimeoutMicros": ints,
                    "allowedBatchSizes": st.lists(ints, max_size=3),
                },
            )
        ),
        "args": field(st.lists(st.sampled_from(["--a=1", "--port=1", "--x y", "y", "--nob"]), max_size=3)),
        "modelConfigPollSeconds": field(ints),
    },
)
resources = st.fixed_dictionaries(
    {},
    optional={
        "cpu": field(st.sampled_from(["1", "500m", 2, "0", "x"])),
        "memory": field(st.sampled_from(["2Gi", "1e9", "512m"])),
        "gpu": field(
            st.fixed_dictionaries(
                {"type": field(st.sampled_from(["nvidia-l4", "nvidia-tesla-t4", "a100x"]))},
                optional={"count": field(ints)},
            )
        ),
    },
)
specs = st.fixed_dictionaries(
    {"model": field(model)},
    optional={
        "runtime": field(runtime),
        "resources": field(resources),
        "replicas": field(ints),
        "autoscaling": field(
            st.fixed_dictionaries(
                {"maxReplicas": field(ints)},
                optional={"minReplicas": field(ints), "metrics": field(st.lists(json_values, max_size=2))},
            )
        ),
        "placement": field(
            st.fixed_dictionaries(
                {},
                optional={
                    "nodeSelector": field(
                        st.dictionaries(
                            st.sampled_from(["pool", "a/b", "nvidia.com/gpu.product"]), st.text(max_size=5)
                        )
                    ),
                    "tolerations": field(st.lists(json_values, max_size=2)),
                    "affinity": field(st.just({"nodeAffinity": {}})),
                },
            )
        ),
        "serviceAccountName": field(st.sampled_from(["sa", "Bad_Name"])),
        "access": field(access),
        "env": field(
            st.lists(
                field(st.fixed_dictionaries({"name": st.sampled_from(["A", "B=C"]), "value": scalars})),
                max_size=2,
            )
        ),
    },
)
names = st.sampled_from(["resnet", "a", "Bad", "x" * 64]) | st.text(max_size=10)
