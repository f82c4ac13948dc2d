"""Running a ruleset over inputs split across processes or machines."""
