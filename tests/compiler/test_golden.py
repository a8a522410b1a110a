"""Golden files: each `cases/<case>.aipol` sits next to its generated
`<case>.c` and `<case>.envoy.yaml`; each `errors/<case>.aipol` next to the
`<case>.err` the compiler prints. Regenerate with AIPOL_REGEN=1, review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aipol.compiler import pipeline, plugin_config
from aipol.dsl.errors import AipolError
from aipol.envoy.bootstrap import render_bootstrap

HERE = Path(__file__).parent
CASES = sorted((HERE / "cases").glob("*.aipol"))
ERRORS = sorted((HERE / "errors").glob("*.aipol"))
# A fixed wasm path keeps the golden bootstrap independent of the checkout.
WASM = Path("/etc/aipol/filter.wasm")


def rel(path: Path) -> str:
    return str(path.relative_to(HERE))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_generated_c(case: Path, golden) -> None:
    policy = pipeline.check_source(case.read_text(), rel(case), case.parent)
    golden(case.with_suffix(".c"), pipeline.generate_c(policy))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_generated_envoy_yaml(case: Path, golden) -> None:
    policy = pipeline.check_source(case.read_text(), rel(case), case.parent)
    config = render_bootstrap(policy, WASM, plugin_config.render_plugin_config(policy))
    # Files next to the policy (JWKS) are pinned to absolute paths: keep the
    # golden independent of where the checkout lives.
    config = config.replace(str(case.parent.resolve()), "<cases>")
    golden(case.with_suffix(".envoy.yaml"), config)


@pytest.mark.parametrize("case", ERRORS, ids=[c.stem for c in ERRORS])
def test_error_message(case: Path, golden) -> None:
    with pytest.raises(AipolError) as info:
        pipeline.check_source(case.read_text(), rel(case), case.parent)
    golden(case.with_suffix(".err"), str(info.value) + "\n")
