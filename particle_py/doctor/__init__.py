"""`particle doctor`: read-only diagnosis (diagnose.py) from the problem table (findings.py),
then repairs from the step table (repair.py), run by run.py."""
