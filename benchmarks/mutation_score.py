"""Print the mutation score from mutmut's CI/CD stats (``nox -s mutation``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

stats = json.loads(Path("mutants/mutmut-cicd-stats.json").read_text())
judged = stats["killed"] + stats["survived"]
score = stats["killed"] / judged if judged else 0.0
print(
    f"mutants: {stats['total']} total, {stats['killed']} killed, {stats['survived']} survived, "
    f"{stats.get('no_tests', 0)} without tests, {stats.get('timeout', 0)} timed out; "
    f"score {score:.1%} of mutants that tests reach"
)
sys.exit(0)
