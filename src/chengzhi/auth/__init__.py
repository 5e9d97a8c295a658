"""Who you are: logins and sessions. (Lock-out, CSRF, API tokens and the rest: trust issue.)"""
