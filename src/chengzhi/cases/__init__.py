"""Cases (案件): the closed loop from registration to archive."""
