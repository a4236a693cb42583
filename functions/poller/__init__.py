"""CallRail poller: a scheduled dispatcher fans out one message per workspace; the workspace poller ingests it."""
