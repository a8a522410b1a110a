"""aipol.compiler"""
