"""aipol.sidecar"""
