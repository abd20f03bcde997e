"""The Xray Cloud client: authentication, GraphQL, downloads, retries, pacing, regions, verification."""
