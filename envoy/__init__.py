"""aipol.envoy"""
