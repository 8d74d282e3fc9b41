"""The hot routes: POST /v1/checkins, POST /v1/offers/{id}/claims and POST /v1/redemptions.

Each is one statement on the statement pool (solomo/db/pool.py): a SQL "request function" (solomo_checkin_request,
solomo_claim_request, solomo_redeem_request) does the database's half of authentication, charges the request
budget, answers an Idempotency-Key replay or stores the first answer, and does the work, in autocommit. What needs
no data is done here first: the bearer credential (:mod:`solomo.hot.callers`), the body and the key's form.
The request function's answer starts with the envelope that :mod:`solomo.hot.envelope` settles.
"""
