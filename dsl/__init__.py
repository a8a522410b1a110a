"""aipol.dsl"""
