"""medeir"""
