"""Secret samples of every class the issue names, shared by the layer, differential and end-to-end tests.

Each is (class, line, secret). The secrets are made up, with the shapes real ones have.
"""

from __future__ import annotations

import base64
import json

STRIPE = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
STRIPE_RK = "rk_live_51HqLyjWDarjtT1zdp7dcAbCd"
STRIPE_WH = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TWILIO_SK = "SK2a0747a5d6ce4f1e8b1e4b6c3f8d9e0a"
TWILIO_AUTH = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
SENDGRID = "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"
NPM = "npm_abcdefghijklmnopqrstuvwxyz0123456789"
PYPI = "pypi-AgEIcHlwaS5vcmcCJDU3OTM1MjliLTU2NTQtNDkyMC05MjQ3LTVkNmQ5ZTFhMjE0NgACKlsz"
VAULT = "hvs.CAESIJlWh5rVdj7gYyK2Hn8wKsYb1XzQm9L3pT4vR6sE2"
SHOPIFY = "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"
HF = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567"
SENTRY_KEY = "3b4c5d6e7f8091a2b3c4d5e6f7a8b9c0"
DATADOG_APP = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
GITLAB = "glpat-x9Yz8Wv7Ut6Sr5Qp4On3"
AWS = "AKIAZ3MSJV4WWNKWW5FQ"
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhcHAiLCJpYXQiOjE3MDAwMDAwMDB9."
       "k2Jd9sL0vQxW8eRtY7uI6oP5aS4dF3gH2jK1lZ0xC9v")
DOCKER_AUTH = base64.b64encode(b"deployer:Dk9rP4ssw0rd!").decode()
PRIVATE_KEY_BODY = ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"
                    "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu")

# (class, line, secret)
SAMPLES: list[tuple[str, str, str]] = [
    # vendor tokens
    ("stripe", f"charge failed using {STRIPE}", STRIPE),
    ("stripe_restricted", f"STRIPE_KEY {STRIPE_RK} rejected", STRIPE_RK),
    ("stripe_webhook", f"verifying with {STRIPE_WH}", STRIPE_WH),
    ("twilio_key", f"twilio client {TWILIO_SK} ready", TWILIO_SK),
    ("twilio_auth", f"twilio sid=AC0123456789abcdef0123456789abcdef auth_token={TWILIO_AUTH}", TWILIO_AUTH),
    ("sendgrid", f"mail via {SENDGRID}", SENDGRID),
    ("npm", f"npm notice using {NPM}", NPM),
    ("npmrc", f"//registry.npmjs.org/:_authToken={NPM}", NPM),
    ("pypi", f"twine upload -p {PYPI}", PYPI),
    ("vault", f"vault token {VAULT} renewed", VAULT),
    ("shopify", f"shop api {SHOPIFY}", SHOPIFY),
    ("huggingface", f"downloading with {HF}", HF),
    ("sentry_dsn", f"sentry init dsn=https://{SENTRY_KEY}@o450000.ingest.sentry.io/5500000", SENTRY_KEY),
    ("sentry_dsn_env", f"SENTRY_DSN: https://{SENTRY_KEY}@sentry.acme.example/12", SENTRY_KEY),
    ("datadog", f"DD_APP_KEY={DATADOG_APP}", DATADOG_APP),
    ("datadog_json", f'{{"dd_application_key": "{DATADOG_APP}"}}', DATADOG_APP),
    ("gitlab", f"git push https://oauth2:{GITLAB}@gitlab.acme.example/x.git", GITLAB),
    ("aws", f"using {AWS}", AWS),
    ("jwt", f"token expired: {JWT}", JWT),
    # command lines
    ("curl_u", "+ curl -sf -u deploy:Sup3rS3cretPw https://nexus.acme.example/x", "Sup3rS3cretPw"),
    ("curl_user", "curl --user admin:Adm1nPa55 http://x", "Adm1nPa55"),
    ("docker_login", "+ docker login -u ci -p Ci9PaSsWoRd registry.acme.example", "Ci9PaSsWoRd"),
    ("docker_login_eq", "docker login --password=Ci9PaSsWoRd registry", "Ci9PaSsWoRd"),
    ("mysql_p", "+ mysql -h db -u root -pR00tPassw0rd shop < dump.sql", "R00tPassw0rd"),
    ("jdbc_oracle", "connecting jdbc:oracle:thin:scott/T1gerPass@db.acme.example:1521/ORCL", "T1gerPass"),
    ("cli_password", "exec app --password hunter2hunter --port 80", "hunter2hunter"),
    ("cli_token", "starting worker --api-token 7fGh2kLm9QwErTy", "7fGh2kLm9QwErTy"),
    # key/value forms
    ("camel_eq", "config loaded dbPassword=Xy7hunter2 host=db", "Xy7hunter2"),
    ("camel_json", '{"accessToken":"at-9f8e7d6c5b4a3","user":"bob"}', "at-9f8e7d6c5b4a3"),
    ("refresh", "refreshToken=rt_0aa1bb2cc3dd4 expires=3600", "rt_0aa1bb2cc3dd4"),
    ("admin_yaml", "  adminPassword: Adm1n!Secret", "Adm1n!Secret"),
    ("bind", "ldap bindPassword=Bind-Pw-77 url=ldap://x", "Bind-Pw-77"),
    ("nested_json", '{"db":{"host":"db","pass":"n3sted-Pa55"}}', "n3sted-Pa55"),
    ("escaped_json", '{"msg":"config {\\"password\\":\\"Esc4ped-Pw\\"}"}', "Esc4ped-Pw"),
    ("yaml_block", "password: |\n  Bl0ck-Scalar-Secret\nnext: value", "Bl0ck-Scalar-Secret"),
    ("cookie", "GET /api Cookie: sessionid=s3ss10nCook1e; theme=dark", "s3ss10nCook1e"),
    ("set_cookie", "Set-Cookie: JSESSIONID=A1B2C3D4E5F6; Path=/; HttpOnly", "A1B2C3D4E5F6"),
    ("docker_auth", f'{{"auths":{{"registry.acme.example":{{"auth":"{DOCKER_AUTH}"}}}}}}', DOCKER_AUTH),
    ("private_key_body", f"key material {PRIVATE_KEY_BODY}", PRIVATE_KEY_BODY),
    ("properties", "spring.datasource.password=Spr1ngPw!", "Spr1ngPw!"),
    ("header", "X-Auth-Token: 0a1b2c3d4e5f6a7b8c", "0a1b2c3d4e5f6a7b8c"),
    ("kebab", "x-api-key=kebab-K3y-123", "kebab-K3y-123"),
    # URLs
    ("probe_query", "Liveness probe failed: Get \"http://10.0.0.5:8080/healthz?key=Pr0beK3yValue\": EOF",
     "Pr0beK3yValue"),
    ("url_userinfo", "redis://default:R3disPw0rd@redis:6379/0", "R3disPw0rd"),
    # colour codes inside a secret
    ("ansi_key", "\x1b[36mpassword\x1b[0m=C0lour3dPw \x1b[2mok\x1b[0m", "C0lour3dPw"),
    ("ansi_printed", "password\\x1b[0m=Pr1ntedEsc", "Pr1ntedEsc"),
    ("ansi_token", "\x1b[33m" + GITLAB + "\x1b[0m", GITLAB),
    ("kubectl_literal", "kubectl create secret generic x --from-literal=password=Fr0mLit3ral", "Fr0mLit3ral"),
    ("url_fragment", "GET /cb#access_token=Fr4gm3ntTok&x=1", "Fr4gm3ntTok"),
    ("netrc", "machine api.example.com login bob password hunter2x", "hunter2x"),
    ("redis_cli", "+ redis-cli -h redis -a R3disCliPw ping", "R3disCliPw"),
    ("sshpass", "sshpass -p Ssh9passPw ssh deploy@host", "Ssh9passPw"),
    ("okta_ssws", "Authorization: SSWS 00QCjAl4MlV-WPXM-ABCDEFGHIJKL", "00QCjAl4MlV-WPXM-ABCDEFGHIJKL"),
    ("kubeconfig_key", "    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo=",
     "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo="),
    ("jvm_prop", "java -Dspring.datasource.password=JvmPr0pPw -jar app.jar", "JvmPr0pPw"),
    ("helm_set", "helm upgrade x --set auth.postgresPassword=HelmSetPw9", "HelmSetPw9"),
    ("xml", "<add key=\"DbPassword\" value=\"XmlCfgPw1\"/>", "XmlCfgPw1"),
    ("aws_configure", "aws_secret_access_key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("prose_quoted", 'login failed: your password is "hunter2" (expired)', "hunter2"),
    ("twilio_pair", 'Client("AC0123456789abcdef0123456789abcdef", "9f8e7d6c5b4a39281706f5e4d3c2b1a0")',
     "9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
    ("ldapsearch", "ldapsearch -x -D cn=admin,dc=acme -w LdapB1ndPw -b dc=acme", "LdapB1ndPw"),
    ("openssl", "openssl pkcs12 -in a.p12 -passin pass:P12Passw0rd -nodes", "P12Passw0rd"),
    ("keytool", "keytool -importkeystore -srcstorepass St0rePass9 -deststorepass St0rePass9", "St0rePass9"),
    ("sqlcmd", "sqlcmd -S db -U sa -P SqlSaPw9x -Q 'select 1'", "SqlSaPw9x"),
    ("mongo_p", "mongosh --host db -u admin -p M0ngoPw77 --authenticationDatabase admin", "M0ngoPw77"),
    ("htpasswd", "htpasswd -bc /etc/nginx/.htpasswd admin HtP4sswd9", "HtP4sswd9"),
    ("smtp_auth", "C: AUTH PLAIN AGFsaWNlAHMzY3JldFNtdHA=", "AGFsaWNlAHMzY3JldFNtdHA="),
    ("gitlab_private_token", "curl --header 'PRIVATE-TOKEN: a1b2c3d4e5f6g7h8' https://gitlab/api", "a1b2c3d4e5f6g7h8"),
    ("german", "db.kennwort=Geh31mPw!", "Geh31mPw!"),
    # random value after a credential word
    ("after_word", "the api key is 8fK2mQ9xR4tL7wZ3", "8fK2mQ9xR4tL7wZ3"),
]


def docker_config() -> str:
    return json.dumps({"auths": {"r.example": {"auth": DOCKER_AUTH}}})
