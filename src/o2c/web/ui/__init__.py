"""The web pages: a back office for every team (/app) and a portal for customers (/portal).

Server-rendered Jinja2 with htmx for partial updates. Every page calls the same services as the API, so
permissions, segregation of duties and a portal user's own-records-only rule hold here exactly as there.
"""
