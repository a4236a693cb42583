"""The CallRail v3 API client and its call records."""
