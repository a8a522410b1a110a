"""aipol.filters"""
