"""models/evaluators"""
