"""Reports that read across stages: the dashboard's figures and one order's whole story."""
