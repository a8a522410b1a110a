"""aipol.sidecar.mocks"""
