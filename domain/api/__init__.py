"""Rules of the platform API (issue 17): who a caller is, what they may do, which events go out.

Pure: no JWT library, no Redis, no SQL. handlers/api/ and storage/ apply these rules.
"""
