# Entry points. `make demo` and `make test` set the environment up first
# (tools/setup.sh is idempotent: quick when nothing changed).
FRAMES ?= 20
MODE ?= split

.PHONY: setup demo test bench scenario
setup:
	@bash tools/setup.sh

demo: setup
	@tools/with_env.sh python -m bottlefit_ros.launcher --mode $(MODE) --frames $(FRAMES)

# -P: keep the source tree off sys.path, so the built package (with msg/) is tested.
test: setup
	@BOTTLEFIT_REQUIRE_ROS=1 tools/with_env.sh python -P -m pytest $(PYTEST_ARGS)

bench: setup
	@tools/with_env.sh python benchmarks/pipeline_benchmark.py

scenario: setup
	@tools/with_env.sh python -P benchmarks/scenario_rehearsal.py $(SCENARIO_ARGS)
