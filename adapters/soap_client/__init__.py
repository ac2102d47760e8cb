"""Partner SOAP clients (zeep): WS-Security with our profile, hardened settings, errors translated.

``wsse.WsSecuritySignature`` is the zeep WS-Security plugin (sign requests, verify answers);
``bank_client.BankClient`` calls a bank's service with it.
"""
