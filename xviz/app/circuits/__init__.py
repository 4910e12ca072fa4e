"""circuits page: activation and attribution patching, logit attribution, information flow, QK / OV circuits."""
