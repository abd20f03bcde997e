"""(placeholder: to be built)"""
commands = []
