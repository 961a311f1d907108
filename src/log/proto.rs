//! The few protobuf messages of a TensorBoard event file, encoded and decoded by hand (field
//! numbers from TensorFlow's `event.proto`, `summary.proto` and `tensor.proto`):
//! `Event { wall_time = 1 (double), step = 2 (int64), file_version = 3, summary = 5 }`,
//! `Summary { value = 1 (repeated) }`,
//! `Value { tag = 1, simple_value = 2 (float), tensor = 8, metadata = 9 }`,
//! `TensorProto { dtype = 1, tensor_shape = 2, string_val = 8 }` and
//! `SummaryMetadata { plugin_data = 1 { plugin_name = 1 } }`.

/// One event of an event file.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Seconds since the Unix epoch.
    pub wall_time: f64,
    /// The step the event belongs to.
    pub step: i64,
    /// What it carries.
    pub body: Body,
}

/// What an [`Event`] carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// The file's first event: its format version (`brain.Event:2`).
    FileVersion(String),
    /// Summary values.
    Summary(Vec<Value>),
    /// Anything else (read, never written).
    Other,
}

/// One tagged value of a summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// The tag, e.g. `train/loss`.
    pub tag: String,
    /// The value.
    pub data: Data,
}

/// The kinds of summary value synaptic writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// A scalar (`simple_value`), what TensorBoard's scalars dashboard plots.
    Scalar(f32),
    /// Markdown for TensorBoard's text plugin: a string tensor tagged with plugin `text`.
    Text(String),
    /// Anything else (read, never written).
    Other,
}

/// DataType `DT_STRING` of `types.proto`.
const DT_STRING: u64 = 7;

fn key(field: u32, wire: u8) -> u64 {
    ((field as u64) << 3) | wire as u64
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    varint(out, key(field, 2));
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

impl Event {
    /// The protobuf encoding, fields in number order and zero scalars left out (as protobuf's own
    /// encoders write proto3).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        varint(&mut out, key(1, 1));
        out.extend_from_slice(&self.wall_time.to_le_bytes());
        if self.step != 0 {
            varint(&mut out, key(2, 0));
            varint(&mut out, self.step as u64);
        }
        match &self.body {
            Body::FileVersion(v) => bytes_field(&mut out, 3, v.as_bytes()),
            Body::Summary(values) => {
                let mut summary = Vec::new();
                for v in values {
                    bytes_field(&mut summary, 1, &v.encode());
                }
                bytes_field(&mut out, 5, &summary);
            }
            Body::Other => {}
        }
        out
    }

    /// Decodes an event; unknown fields are skipped, malformed bytes are an error.
    pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
        let mut ev = Event {
            wall_time: 0.0,
            step: 0,
            body: Body::Other,
        };
        for f in Fields(bytes) {
            match f? {
                (1, Field::Fixed64(v)) => ev.wall_time = f64::from_bits(v),
                (2, Field::Varint(v)) => ev.step = v as i64,
                (3, Field::Bytes(b)) => ev.body = Body::FileVersion(string(b)?),
                (5, Field::Bytes(b)) => {
                    let mut values = Vec::new();
                    for f in Fields(b) {
                        if let (1, Field::Bytes(v)) = f? {
                            values.push(Value::decode(v)?);
                        }
                    }
                    ev.body = Body::Summary(values);
                }
                _ => {}
            }
        }
        Ok(ev)
    }
}

impl Value {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        bytes_field(&mut out, 1, self.tag.as_bytes());
        match &self.data {
            Data::Scalar(x) => {
                varint(&mut out, key(2, 5));
                out.extend_from_slice(&x.to_le_bytes());
            }
            Data::Text(text) => {
                let mut tensor = Vec::new();
                varint(&mut tensor, key(1, 0));
                varint(&mut tensor, DT_STRING);
                // A scalar: an empty shape.
                bytes_field(&mut tensor, 2, &[]);
                bytes_field(&mut tensor, 8, text.as_bytes());
                bytes_field(&mut out, 8, &tensor);
                let mut plugin = Vec::new();
                bytes_field(&mut plugin, 1, b"text");
                let mut metadata = Vec::new();
                bytes_field(&mut metadata, 1, &plugin);
                bytes_field(&mut out, 9, &metadata);
            }
            Data::Other => {}
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
        let mut tag = String::new();
        let mut scalar = None;
        let mut text = None;
        let mut plugin = None;
        for f in Fields(bytes) {
            match f? {
                (1, Field::Bytes(b)) => tag = string(b)?,
                (2, Field::Fixed32(v)) => scalar = Some(f32::from_bits(v)),
                (8, Field::Bytes(t)) => {
                    for f in Fields(t) {
                        if let (8, Field::Bytes(s)) = f? {
                            text.get_or_insert(string(s)?);
                        }
                    }
                }
                (9, Field::Bytes(m)) => {
                    for f in Fields(m) {
                        if let (1, Field::Bytes(p)) = f? {
                            for f in Fields(p) {
                                if let (1, Field::Bytes(name)) = f? {
                                    plugin = Some(string(name)?);
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        let data = match (scalar, text, plugin.as_deref()) {
            (Some(x), _, _) => Data::Scalar(x),
            (None, Some(t), Some("text")) => Data::Text(t),
            _ => Data::Other,
        };
        Ok(Value { tag, data })
    }
}

/// Bytes that are not the protobuf they should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed event: {0}")]
pub struct DecodeError(&'static str);

fn string(b: &[u8]) -> Result<String, DecodeError> {
    String::from_utf8(b.to_vec()).map_err(|_| DecodeError("a string is not UTF-8"))
}

/// One field's value, by wire type.
enum Field<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// The (field number, value) pairs of one message.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.0.split_first().ok_or(DecodeError("cut varint"))?;
            self.0 = rest;
            v |= ((b & 0x7F) as u64) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(DecodeError("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.0.len() {
            return Err(DecodeError("field runs past the message"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Field<'a>), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let field = (|| {
            let k = self.varint()?;
            let number = u32::try_from(k >> 3).map_err(|_| DecodeError("field number"))?;
            let value = match k & 7 {
                0 => Field::Varint(self.varint()?),
                1 => Field::Fixed64(u64::from_le_bytes(
                    self.take(8)?.try_into().expect("8 bytes"),
                )),
                2 => {
                    let n = usize::try_from(self.varint()?)
                        .map_err(|_| DecodeError("length too large"))?;
                    Field::Bytes(self.take(n)?)
                }
                5 => Field::Fixed32(u32::from_le_bytes(
                    self.take(4)?.try_into().expect("4 bytes"),
                )),
                _ => return Err(DecodeError("unsupported wire type")),
            };
            Ok((number, value))
        })();
        if field.is_err() {
            // Nothing sensible follows a malformed field.
            self.0 = &[];
        }
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::tfrecord::frame;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn events_are_byte_identical_to_tensorboards_own_records() {
        // Framed records written by tensorboard 2.21's RecordWriter from event_pb2.Event
        // messages (the text one made by tensorboard.plugins.text.summary_v2.text_pb).
        let cases = [
            (
                Event {
                    wall_time: 1.5,
                    step: 0,
                    body: Body::FileVersion("brain.Event:2".into()),
                },
                "1800000000000000a37f4b2209000000000000f83f1a0d627261696e2e4576656e743a322a28646c",
            ),
            (
                Event {
                    wall_time: 2.25,
                    step: 7,
                    body: Body::Summary(vec![Value {
                        tag: "train/loss".into(),
                        data: Data::Scalar(0.5),
                    }]),
                },
                "200000000000000029eda95009000000000000024010072a130a110a0a747261696e2f6c6f7373150000003fed72860f",
            ),
            (
                Event {
                    wall_time: 3.0,
                    step: 0,
                    body: Body::Summary(vec![Value {
                        tag: "config".into(),
                        data: Data::Text("a | b".into()),
                    }]),
                },
                "2c00000000000000f4aecc450900000000000008402a210a1f0a06636f6e666967420b08071200420561207c20624a080a060a0474657874b1003a79",
            ),
        ];
        for (ev, want) in cases {
            let record = frame(&ev.encode());
            assert_eq!(record, hex(want), "{ev:?}");
            assert_eq!(Event::decode(&ev.encode()).unwrap(), ev);
        }
    }

    #[test]
    fn large_and_negative_steps_and_unknown_fields_decode() {
        let ev = Event {
            wall_time: 1e9 + 0.25,
            step: 1 << 40,
            body: Body::Summary(vec![
                Value {
                    tag: "a".into(),
                    data: Data::Scalar(-1.25),
                },
                Value {
                    tag: "b".into(),
                    data: Data::Scalar(f32::MAX),
                },
            ]),
        };
        let mut bytes = ev.encode();
        // An unknown field (number 99, varint) is skipped.
        varint(&mut bytes, key(99, 0));
        varint(&mut bytes, 12345);
        assert_eq!(Event::decode(&bytes).unwrap(), ev);
        let neg = Event {
            wall_time: 0.0,
            step: -3,
            body: Body::Other,
        };
        assert_eq!(Event::decode(&neg.encode()).unwrap(), neg);
        // A length running past the end is an error, not a panic.
        let cut = &ev.encode()[..20];
        assert!(Event::decode(cut).is_err());
    }
}
