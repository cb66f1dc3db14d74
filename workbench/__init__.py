"""conv1d NCU workbench: problems -> kernels -> runner -> ncu -> metrics -> rules -> search -> report."""
