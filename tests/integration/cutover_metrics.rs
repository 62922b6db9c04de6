//! The cutover's CloudWatch adapter against the emulator: DMS task metrics
//! put with the dimensions DMS publishes them with (namespace `AWS/DMS`,
//! `ReplicationInstanceIdentifier` and `ReplicationTaskIdentifier`), found
//! by the task alone (ListMetrics) and read back (GetMetricData).
//!
//! `aws-sdk-cloudwatch` speaks only the Smithy RPC v2 CBOR protocol
//! (`POST /service/GraniteServiceVersion20100801/operation/<Operation>`,
//! `application/cbor`). moto 5.2.5 serves CloudWatch in the two other
//! protocols the service model lists, awsJson1_0 and awsQuery: it routes
//! CloudWatch on `/` only (the CBOR path is a 404) and has no CBOR parser or
//! serializer. So the clients here go through [`CborToJson`], an HTTP
//! client that carries each request to moto as the same operation in
//! awsJson1_0 and its answer back in CBOR. The adapter is the production
//! one; only the wire between the SDK and moto is translated.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::config::http::{HttpRequest, HttpResponse};
use aws_sdk_cloudwatch::config::{HttpClient, RuntimeComponents};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use dms_refresh_core::aws::CloudWatchClient;
use dms_refresh_core::cutover::{Datapoint, LatencyMetric, TaskMetrics};
use minicbor::data::{IanaTag, Tag, Type};
use serde_json::{Map, Value};

use crate::harness::Moto;

/// The task's resource id (the last segment of its ARN).
const TASK_ID: &str = "CUTOVERTASKAAAAAAAAAAAAAAAA";
const INSTANCE_ID: &str = "dms-instance-a";

/// One datapoint of `metric` for the task, at `epoch`.
fn datum(metric: &str, epoch: f64, value: f64) -> MetricDatum {
    let dimension = |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
    MetricDatum::builder()
        .metric_name(metric)
        .dimensions(dimension("ReplicationInstanceIdentifier", INSTANCE_ID))
        .dimensions(dimension("ReplicationTaskIdentifier", TASK_ID))
        .timestamp(DateTime::from_secs_f64(epoch))
        .value(value)
        .unit(StandardUnit::Seconds)
        .build()
}

/// A CloudWatch client of the emulator, through the protocol bridge.
fn cloudwatch(moto: &Moto) -> aws_sdk_cloudwatch::Client {
    let config = aws_sdk_cloudwatch::config::Builder::from(&moto.sdk)
        .http_client(CborToJson)
        // The bridge reads the body as CBOR: no gzip (PutMetricData
        // compresses only above 10 KiB anyway).
        .disable_request_compression(true)
        .build();
    aws_sdk_cloudwatch::Client::from_conf(config)
}

#[tokio::test]
async fn the_latest_cdc_latency_of_a_task_is_read_from_cloudwatch() {
    let moto = Moto::start().await;
    let client = cloudwatch(&moto);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // Ten minutes ago, on a minute: CloudWatch's one-minute periods start on
    // minutes (moto's start at StartTime, on a minute here too).
    let base = (now / 60.0).floor() * 60.0 - 600.0;
    client
        .put_metric_data()
        .namespace("AWS/DMS")
        .metric_data(datum("CDCLatencySource", base + 30.0, 42.0))
        .metric_data(datum("CDCLatencySource", base + 150.0, 0.0))
        // A later datapoint of the task's other metric is not the answer.
        .metric_data(datum("CDCLatencyTarget", base + 210.0, 99.0))
        .send()
        .await
        .expect("PutMetricData");

    let adapter = CloudWatchClient::from_client(client);
    let (from, to) = (base - 60.0, now + 60.0);
    let source = adapter
        .latest(TASK_ID, LatencyMetric::Source, from, to)
        .await
        .expect("latest CDCLatencySource");
    // The later datapoint, stamped with the start of its one-minute period.
    assert_eq!(
        source,
        Some(Datapoint {
            epoch: base + 120.0,
            value: 0.0
        })
    );
    let target = adapter
        .latest(TASK_ID, LatencyMetric::Target, from, to)
        .await
        .expect("latest CDCLatencyTarget");
    assert_eq!(
        target,
        Some(Datapoint {
            epoch: base + 180.0,
            value: 99.0
        })
    );

    // ListMetrics' dimension filter: the datapoints above are another task's.
    let none = adapter
        .latest("ANOTHERTASKWITHOUTDATA", LatencyMetric::Source, from, to)
        .await
        .expect("latest of a task without data");
    assert_eq!(none, None);
}

// ---------------------------------------------------------------------------
// The protocol bridge: rpc-v2-cbor on the SDK's side, awsJson1_0 on moto's.
// ---------------------------------------------------------------------------

/// An HTTP client that sends CloudWatch's CBOR requests to the emulator as
/// awsJson1_0 and answers in CBOR.
#[derive(Debug)]
struct CborToJson;

impl HttpClient for CborToJson {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let inner = aws_smithy_http_client::default_connector(settings, components.sleep_impl())
            .expect("the default HTTP connector");
        SharedHttpConnector::new(Bridge { inner })
    }
}

#[derive(Debug)]
struct Bridge {
    inner: SharedHttpConnector,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn bridge_error(e: impl Into<BoxError>) -> ConnectorError {
    ConnectorError::other(e.into(), None)
}

impl HttpConnector for Bridge {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move {
            let request = to_json_request(request).map_err(bridge_error)?;
            let mut response = inner.call(request).await?;
            let body = ByteStream::new(response.take_body())
                .collect()
                .await
                .map_err(bridge_error)?
                .into_bytes();
            to_cbor_response(response, &body).map_err(bridge_error)
        })
    }
}

/// `POST /service/GraniteServiceVersion20100801/operation/<Op>` with a CBOR
/// body becomes `POST /` with `X-Amz-Target:
/// GraniteServiceVersion20100801.<Op>` and the same input in JSON.
fn to_json_request(mut request: HttpRequest) -> Result<HttpRequest, BoxError> {
    let uri = request.uri().to_owned();
    let (base, path) = uri
        .split_once("/service/")
        .ok_or_else(|| format!("not an rpc-v2-cbor request: {uri}"))?;
    let (service, operation) = path
        .split_once("/operation/")
        .ok_or_else(|| format!("not an rpc-v2-cbor request: {uri}"))?;
    let cbor = request.body().bytes().unwrap_or_default();
    let input = if cbor.is_empty() {
        Value::Object(Map::new())
    } else {
        cbor_to_json(&mut minicbor::Decoder::new(cbor))?
    };
    let body = serde_json::to_vec(&input)?;
    request.set_uri(format!("{base}/"))?;
    let headers = request.headers_mut();
    headers.remove("smithy-protocol");
    headers.insert("content-type", "application/x-amz-json-1.0");
    headers.insert("accept", "application/json");
    headers.insert("x-amz-target", format!("{service}.{operation}"));
    headers.insert("content-length", body.len().to_string());
    *request.body_mut() = SdkBody::from(body);
    Ok(request)
}

/// moto's JSON answer (output or error) in CBOR.
fn to_cbor_response(mut response: HttpResponse, json: &[u8]) -> Result<HttpResponse, BoxError> {
    let value: Value = if json.is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(json)?
    };
    let mut encoder = minicbor::Encoder::new(Vec::new());
    json_to_cbor(&mut encoder, &value, false)?;
    let body = encoder.into_writer();
    let headers = response.headers_mut();
    headers.insert("content-type", "application/cbor");
    headers.insert("smithy-protocol", "rpc-v2-cbor");
    headers.insert("content-length", body.len().to_string());
    *response.body_mut() = SdkBody::from(body);
    Ok(response)
}

/// A CBOR value as JSON. Timestamps (tag 1) become their epoch seconds,
/// as awsJson1_0 sends them.
fn cbor_to_json(d: &mut minicbor::Decoder<'_>) -> Result<Value, BoxError> {
    Ok(match d.datatype()? {
        Type::Bool => Value::Bool(d.bool()?),
        Type::Null | Type::Undefined => {
            d.skip()?;
            Value::Null
        }
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => d.u64()?.into(),
        Type::I8 | Type::I16 | Type::I32 | Type::I64 => d.i64()?.into(),
        Type::F16 | Type::F32 | Type::F64 => d.f64()?.into(),
        Type::String | Type::StringIndef => {
            let mut text = String::new();
            for part in d.str_iter()? {
                text.push_str(part?);
            }
            Value::String(text)
        }
        Type::Tag => {
            d.tag()?;
            cbor_to_json(d)?
        }
        Type::Array | Type::ArrayIndef => {
            let len = d.array()?;
            let mut items = Vec::new();
            while more(d, len, items.len())? {
                items.push(cbor_to_json(d)?);
            }
            Value::Array(items)
        }
        Type::Map | Type::MapIndef => {
            let len = d.map()?;
            let mut map = Map::new();
            while more(d, len, map.len())? {
                let key = match cbor_to_json(d)? {
                    Value::String(key) => key,
                    other => return Err(format!("a map key {other}").into()),
                };
                map.insert(key, cbor_to_json(d)?);
            }
            Value::Object(map)
        }
        other => return Err(format!("CBOR {other} in a CloudWatch request").into()),
    })
}

/// Whether another element of an array or map follows: `len` of a definite
/// one, else until (and past) the break.
fn more(d: &mut minicbor::Decoder<'_>, len: Option<u64>, read: usize) -> Result<bool, BoxError> {
    match len {
        Some(n) => Ok((read as u64) < n),
        None if d.datatype()? == Type::Break => {
            d.set_position(d.position() + 1);
            Ok(false)
        }
        None => Ok(true),
    }
}

/// A JSON value as CBOR. Numbers are doubles (every number of the answers
/// the adapter reads is, `Values`), those of `Timestamps` tagged as epoch
/// seconds (tag 1), as rpc-v2-cbor sends timestamps.
fn json_to_cbor(
    e: &mut minicbor::Encoder<Vec<u8>>,
    value: &Value,
    timestamp: bool,
) -> Result<(), BoxError> {
    match value {
        Value::Null => {
            e.null()?;
        }
        Value::Bool(b) => {
            e.bool(*b)?;
        }
        Value::Number(n) => {
            let x = n.as_f64().ok_or_else(|| format!("number {n}"))?;
            if timestamp {
                e.tag(Tag::from(IanaTag::Timestamp))?;
            }
            e.f64(x)?;
        }
        Value::String(s) => {
            e.str(s)?;
        }
        Value::Array(items) => {
            e.array(items.len() as u64)?;
            for item in items {
                json_to_cbor(e, item, timestamp)?;
            }
        }
        Value::Object(map) => {
            e.map(map.len() as u64)?;
            for (key, item) in map {
                e.str(key)?;
                json_to_cbor(e, item, key == "Timestamps")?;
            }
        }
    }
    Ok(())
}
