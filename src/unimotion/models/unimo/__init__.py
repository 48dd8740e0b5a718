"""models/unimo"""
