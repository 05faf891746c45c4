"""Pure metric, grading, profit and plotting functions shared by every task."""
