"""The built-in policy pack. A Python package only so that the YAML files here ship inside the
installed package as `auditor.policies` (pyproject.toml maps this folder with package-dir)."""
