"""Studies: strategies compared side by side (paired statistics, tables, plots) and transfer
learning over target-set sizes."""
