"""Keeps docs/s3-compatibility.md true: every operation of botocore's S3 model must be
in its operations table, each operation marked supported or partial must not answer
501 NotImplemented, and each marked not supported must answer exactly that.

Each operation is called by boto3 against a fresh bucket holding one object and one
multipart upload, with its required parameters filled from those fixtures or, failing
that, from dummy values of the right shape."""
import datetime
import re

from botocore.exceptions import ClientError
from botocore import xform_name

STATUSES = ("supported", "partial", "not supported", "not applicable")


def doc_statuses(path):
    """Operation name -> status, from the table rows `| OperationName | status | … |`."""
    out = {}
    for line in open(path):
        m = re.match(r"\|\s*([A-Z][A-Za-z0-9]+)\s*\|\s*([a-z ]+?)\s*\|", line)
        if m and m.group(2) in STATUSES:
            out[m.group(1)] = m.group(2)
    return out


def dummy(shape, name, fixtures):
    if name in fixtures:
        return fixtures[name]
    t = shape.type_name
    if t == "structure" and shape.metadata.get("union"):
        first, member = next(iter(shape.members.items()))
        return {first: dummy(member, first, fixtures)}
    if t == "structure":
        return {m: dummy(s, m, fixtures) for m, s in shape.members.items() if m in shape.required_members}
    if t == "list":
        return [dummy(shape.member, shape.member.name, fixtures)]
    if t == "map":
        return {}
    if t == "string":
        return shape.enum[0] if shape.enum else "x" * max(1, shape.metadata.get("min", 1))
    if t in ("integer", "long"):
        return 1
    if t == "boolean":
        return False
    if t == "timestamp":
        return datetime.datetime.now(datetime.timezone.utc)
    if t == "blob":
        return b"x"
    return None


def call_answer(client, model, op, fixtures):
    """What the site answers to one operation: an error code, or 'ok'."""
    shape = model.operation_model(op).input_shape
    params = dummy(shape, op, fixtures) if shape else {}
    try:
        getattr(client, xform_name(op))(**params)
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]


def fixture(client, bucket):
    client.create_bucket(Bucket=bucket)
    etag = client.put_object(Bucket=bucket, Key="obj", Body=b"payload")["ETag"]
    upload = client.create_multipart_upload(Bucket=bucket, Key="obj")["UploadId"]
    part = client.upload_part(Bucket=bucket, Key="obj", UploadId=upload, PartNumber=1, Body=b"part")["ETag"]
    return {
        "Bucket": bucket,
        "Key": "obj",
        "UploadId": upload,
        "CopySource": f"{bucket}/obj",
        "PartNumber": 1,
        "ACL": "private",
        "IfMatch": etag,
        "MultipartUpload": {"Parts": [{"PartNumber": 1, "ETag": part}]},
        "Delete": {"Objects": [{"Key": "obj"}]},
        "Tagging": {"TagSet": [{"Key": "k", "Value": "v"}]},
        "CORSConfiguration": {"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]},
        "ObjectAttributes": ["ETag"],
    }


def operation_scenarios(r, site, doc_path, make_client):
    client = make_client()
    model = client.meta.service_model
    documented = doc_statuses(doc_path)

    def table_is_complete():
        missing = sorted(set(model.operation_names) - set(documented))
        unknown = sorted(set(documented) - set(model.operation_names))
        assert not missing, f"operations missing from the compatibility table: {missing}"
        assert not unknown, f"table rows that are no S3 operation: {unknown}"
    r.run("compatibility table lists every S3 operation", table_is_complete)

    def answers_match_the_table():
        wrong = []
        for i, op in enumerate(sorted(documented)):
            status = documented[op]
            if status == "not applicable":
                continue
            answer = call_answer(client, model, op, fixture(client, f"op-{i:03}"))
            implemented = answer not in ("NotImplemented", "501")
            if status in ("supported", "partial") and not implemented:
                wrong.append(f"{op} is documented {status} but answers {answer}")
            if status == "not supported" and implemented:
                wrong.append(f"{op} is documented not supported but answers {answer}")
        assert not wrong, "\n".join(wrong)
    r.run("every operation answers as the compatibility table says", answers_match_the_table)


def survey(site_endpoint, access_key, secret_key):
    """Prints what each operation answers (for writing the table)."""
    import boto3
    client = boto3.client("s3", endpoint_url=site_endpoint, aws_access_key_id=access_key,
                          aws_secret_access_key=secret_key, region_name="us-east-1")
    model = client.meta.service_model
    for i, op in enumerate(model.operation_names):
        try:
            answer = call_answer(client, model, op, fixture(client, f"survey-{i:03}"))
        except Exception as e:  # noqa: BLE001 - a survey reports whatever happens
            answer = f"exception {type(e).__name__}: {str(e)[:80]}"
        print(f"{op:55} {answer}")
