"""The CNI protocol: environment, network configuration, results, errors, the skeleton."""
