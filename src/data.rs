//! MNIST as IDX files: reading them, checking them against the published
//! checksums, and turning them into the tensors the experiments train on.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use flate2::read::GzDecoder;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::{Device, Kind, Tensor};

/// Side length of an MNIST image.
pub const SIDE: usize = 28;
/// Pixels per image.
pub const PIXELS: usize = SIDE * SIDE;
/// Number of digit classes.
pub const CLASSES: usize = 10;

/// The directory the embedded data set ships in, relative to the crate root.
pub const EMBEDDED_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist");

/// One of the four standard files, with the SHA-256 of its decompressed bytes
/// as published for the official MNIST.
struct IdxFile {
    name: &'static str,
    sha256: &'static str,
}

const TRAIN_IMAGES: IdxFile =
    IdxFile { name: "train-images-idx3-ubyte", sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db" };
const TRAIN_LABELS: IdxFile =
    IdxFile { name: "train-labels-idx1-ubyte", sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5" };
const TEST_IMAGES: IdxFile =
    IdxFile { name: "t10k-images-idx3-ubyte", sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7" };
const TEST_LABELS: IdxFile =
    IdxFile { name: "t10k-labels-idx1-ubyte", sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2" };

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{file}: not found (looked for {file}.gz and {file} in {dir}). {}", restore_hint(dir))]
    Missing { file: String, dir: PathBuf },
    #[error("{path}: cannot be read")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: is not a complete gzip stream; the file is truncated or corrupted. {}", restore_hint(path.parent().unwrap_or(path)))]
    Gzip { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error(
        "{path}: checksum mismatch: expected SHA-256 {expected} of the official MNIST file, found {found}. \
         The file was altered or replaced; restore it from git, or pass --data-dir to use other data on purpose"
    )]
    Checksum { path: PathBuf, expected: String, found: String },
}

/// What to do about a missing or broken file in `dir`: restore the
/// embedded MNIST from git, or fix the directory given with --data-dir.
fn restore_hint(dir: &Path) -> String {
    if dir == Path::new(EMBEDDED_DIR) {
        "Restore data/mnist/ from git (`git checkout -- data/mnist`)".into()
    } else {
        format!("Check --data-dir {}: it needs the four standard IDX files, raw or gzip-compressed", dir.display())
    }
}

/// Zalando's Fashion-MNIST (Debian's `dataset-fashion-mnist`): SHA-256 of
/// each decompressed file, in the order `Mnist::load` reads them.
pub const FASHION_MNIST_SHA256: [&str; 4] = [
    "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
];

const FASHION_CLASSES: [&str; CLASSES] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// What the images show, known by the files' checksums: what the report
/// calls the data set, one image and each class.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DataSet {
    pub name: String,
    /// Handwritten digits (MNIST): what the answers say of strokes,
    /// handwriting and the published MNIST results holds only for them.
    pub digits: bool,
    /// One image's subject, singular and plural: "digit", "garment", "sample".
    pub item: String,
    pub items: String,
    /// Each label's name, by label.
    pub class_names: Vec<String>,
}

impl DataSet {
    /// The data set whose four files have these SHA-256 sums (train images,
    /// train labels, test images, test labels); files of none known are
    /// "samples" with numbered classes.
    pub fn identify(sums: &[&str]) -> DataSet {
        let official = [TRAIN_IMAGES.sha256, TRAIN_LABELS.sha256, TEST_IMAGES.sha256, TEST_LABELS.sha256];
        let named = |name: &str, digits: bool, item: &str, items: &str, classes: Vec<String>| DataSet {
            name: name.to_owned(),
            digits,
            item: item.to_owned(),
            items: items.to_owned(),
            class_names: classes,
        };
        if sums == official {
            named("MNIST", true, "digit", "digits", (0..CLASSES).map(|c| c.to_string()).collect())
        } else if sums == FASHION_MNIST_SHA256 {
            named("Fashion-MNIST", false, "garment", "garments", FASHION_CLASSES.iter().map(|c| c.to_string()).collect())
        } else {
            named("the given IDX files", false, "sample", "samples", (0..CLASSES).map(|c| format!("class {c}")).collect())
        }
    }
}

/// Where the data came from, and whether its checksums were enforced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Provenance {
    pub dir: PathBuf,
    /// True for the embedded official MNIST, whose checksums are enforced.
    pub official: bool,
    /// SHA-256 of each decompressed file, by file name.
    pub files: Vec<(String, String)>,
    /// SHA-256 over the four file checksums: the data's part of every cache key.
    pub fingerprint: String,
    /// What the files are, by their checksums.
    pub data_set: DataSet,
}

/// Images (row-major, one byte per pixel) and their labels.
#[derive(Debug, Clone)]
pub struct Split {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

/// The indices `0..total` in a random order drawn with `seed`.
pub fn shuffled(total: usize, seed: u64) -> Vec<usize> {
    let mut indices: Vec<usize> = (0..total).collect();
    indices.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    indices
}

/// `n` of the indices `0..total` drawn at random with `seed`, in order.
pub fn drawn(total: usize, n: usize, seed: u64) -> Vec<usize> {
    let mut indices = shuffled(total, seed);
    indices.truncate(n);
    indices.sort_unstable();
    indices
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * PIXELS..(i + 1) * PIXELS]
    }

    /// The images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Split {
        let mut images = Vec::with_capacity(indices.len() * PIXELS);
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        Split { images, labels: indices.iter().map(|&i| self.labels[i]).collect() }
    }

    /// A random subset of `n` images drawn with `seed`, kept in their
    /// original order; the whole split when `n` is at least its size.
    pub fn subset(&self, n: usize, seed: u64) -> Split {
        if n >= self.len() {
            return self.clone();
        }
        self.select(&drawn(self.len(), n, seed))
    }

    /// Splits off `n` random images drawn with `seed` as a validation set:
    /// returns (the rest, the held-out images), each in the original order.
    pub fn hold_out(&self, n: usize, seed: u64) -> (Split, Split) {
        let mut indices = shuffled(self.len(), seed);
        let (held, rest) = indices.split_at_mut(n.min(self.len()));
        held.sort_unstable();
        rest.sort_unstable();
        (self.select(rest), self.select(held))
    }

    /// Images as float32 in [0, 1], shape (N, 784): the notebook's `/ 255`.
    pub fn images_tensor(&self, device: Device) -> Tensor {
        Tensor::from_slice(&self.images)
            .to_device(device)
            .to_kind(Kind::Float)
            .divide_scalar(255.0)
            .view([self.len() as i64, PIXELS as i64])
    }

    /// Labels as int64 class indices, shape (N,).
    pub fn labels_tensor(&self, device: Device) -> Tensor {
        Tensor::from_slice(&self.labels).to_kind(Kind::Int64).to_device(device)
    }

    /// Number of images per class.
    pub fn class_counts(&self) -> [usize; CLASSES] {
        let mut counts = [0; CLASSES];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }
}

#[derive(Debug, Clone)]
pub struct Mnist {
    pub train: Split,
    pub test: Split,
    pub provenance: Provenance,
}

impl Mnist {
    /// Loads the embedded official MNIST, refusing any file whose checksum
    /// differs from the published one.
    pub fn load_embedded() -> Result<Mnist, DataError> {
        Self::load(Path::new(EMBEDDED_DIR), true)
    }

    /// Loads the four standard files from `dir` (each either gzip-compressed
    /// with a `.gz` suffix or raw). With `enforce`, checksums must match the
    /// official ones; without, they are only recorded.
    pub fn load(dir: &Path, enforce: bool) -> Result<Mnist, DataError> {
        let mut files = Vec::new();
        let mut read = |f: &IdxFile, dims: usize| -> Result<(PathBuf, Vec<usize>, Vec<u8>), DataError> {
            let (path, bytes) = read_maybe_gz(dir, f.name)?;
            let found = hex(&Sha256::digest(&bytes));
            if enforce && found != f.sha256 {
                return Err(DataError::Checksum { path, expected: f.sha256.into(), found });
            }
            files.push((f.name.to_owned(), found));
            let (shape, data) = parse_idx(&bytes).map_err(|reason| DataError::Format { path: path.clone(), reason })?;
            if shape.len() != dims {
                return Err(DataError::Format { path, reason: format!("expected {dims} dimensions, found {}", shape.len()) });
            }
            let data = data.to_vec();
            Ok((path, shape, data))
        };
        let train = read_split(&mut read, &TRAIN_IMAGES, &TRAIN_LABELS)?;
        let test = read_split(&mut read, &TEST_IMAGES, &TEST_LABELS)?;
        let mut hasher = Sha256::new();
        for (_, sum) in &files {
            hasher.update(sum.as_bytes());
        }
        let sums: Vec<&str> = files.iter().map(|(_, sum)| sum.as_str()).collect();
        let data_set = DataSet::identify(&sums);
        let provenance = Provenance { dir: dir.to_owned(), official: enforce, fingerprint: hex(&hasher.finalize()), files, data_set };
        Ok(Mnist { train, test, provenance })
    }

    /// Writes the four standard IDX files, uncompressed, into `dir`: the
    /// same images for another program (the peer of `bench`).
    pub fn write_idx(&self, dir: &Path) -> anyhow::Result<()> {
        let side = SIDE as u32;
        for (split, images, labels) in [(&self.train, &TRAIN_IMAGES, &TRAIN_LABELS), (&self.test, &TEST_IMAGES, &TEST_LABELS)] {
            let n = split.len() as u32;
            for (file, shape, data) in [(images, &[n, side, side][..], &split.images), (labels, &[n][..], &split.labels)] {
                let path = dir.join(file.name);
                std::fs::write(&path, idx_bytes(shape, data)).with_context(|| format!("{}: cannot write", path.display()))?;
            }
        }
        Ok(())
    }

    /// The same data set reduced to random subsets of the given sizes.
    pub fn subset(&self, train: usize, test: usize, seed: u64) -> Mnist {
        Mnist {
            train: self.train.subset(train, seed),
            test: self.test.subset(test, seed.wrapping_add(1)),
            provenance: self.provenance.clone(),
        }
    }

    /// The subset that `profile` trains and tests on, drawn from the master seed.
    pub fn for_profile(&self, profile: crate::profile::Profile, master_seed: u64) -> Mnist {
        self.subset(profile.train_images(), profile.test_images(), crate::seed::data_subset(master_seed))
    }
}

type ReadFn<'a> = dyn FnMut(&IdxFile, usize) -> Result<(PathBuf, Vec<usize>, Vec<u8>), DataError> + 'a;

fn read_split(read: &mut ReadFn, images: &IdxFile, labels: &IdxFile) -> Result<Split, DataError> {
    let (images_path, image_shape, images_data) = read(images, 3)?;
    let (labels_path, label_shape, labels_data) = read(labels, 1)?;
    if image_shape[1..] != [SIDE, SIDE] {
        return Err(DataError::Format {
            path: images_path,
            reason: format!("expected 28x28 images, found {}x{}", image_shape[1], image_shape[2]),
        });
    }
    if image_shape[0] != label_shape[0] {
        return Err(DataError::Format { path: labels_path, reason: format!("{} labels for {} images", label_shape[0], image_shape[0]) });
    }
    if let Some(bad) = labels_data.iter().find(|&&l| l as usize >= CLASSES) {
        return Err(DataError::Format {
            path: labels_path,
            reason: format!("label {bad} is not a class: labels run from 0 to {}", CLASSES - 1),
        });
    }
    Ok(Split { images: images_data, labels: labels_data })
}

/// The most an IDX file may hold, decompressed: eight times MNIST's
/// training images.
const MAX_IDX_BYTES: u64 = 8 * 60_000 * 28 * 28;

fn too_large(path: &Path, bytes: usize) -> Result<(), DataError> {
    match bytes as u64 > MAX_IDX_BYTES {
        true => Err(DataError::Format {
            path: path.to_owned(),
            reason: format!("holds more than {} MB: not an MNIST-sized IDX file", MAX_IDX_BYTES / 1_000_000),
        }),
        false => Ok(()),
    }
}

/// Reads `dir/name.gz` (decompressed) or else `dir/name`, at most
/// `MAX_IDX_BYTES` of either.
fn read_maybe_gz(dir: &Path, name: &str) -> Result<(PathBuf, Vec<u8>), DataError> {
    let gz = dir.join(format!("{name}.gz"));
    let raw = dir.join(name);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| DataError::Io { path, source }
    };
    if gz.exists() {
        let file = std::fs::File::open(&gz).map_err(io(&gz))?;
        let mut bytes = Vec::new();
        GzDecoder::new(file)
            .take(MAX_IDX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| DataError::Gzip { path: gz.clone(), source })?;
        too_large(&gz, bytes.len())?;
        Ok((gz, bytes))
    } else if raw.exists() {
        let mut bytes = Vec::new();
        std::fs::File::open(&raw).and_then(|f| f.take(MAX_IDX_BYTES + 1).read_to_end(&mut bytes)).map_err(io(&raw))?;
        too_large(&raw, bytes.len())?;
        Ok((raw, bytes))
    } else {
        Err(DataError::Missing { file: name.to_owned(), dir: dir.to_owned() })
    }
}

/// Parses an IDX file of unsigned bytes: its dimensions and its data.
pub fn parse_idx(bytes: &[u8]) -> Result<(Vec<usize>, &[u8]), String> {
    if bytes.len() < 4 {
        return Err(format!("too short for an IDX header ({} bytes)", bytes.len()));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err("not an IDX file (the first two bytes must be zero)".into());
    }
    if bytes[2] != 0x08 {
        return Err(format!("IDX element type 0x{:02x} is not unsigned byte (0x08)", bytes[2]));
    }
    let ndims = bytes[3] as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(format!("header announces {ndims} dimensions but the file ends after {} bytes", bytes.len()));
    }
    let shape: Vec<usize> = bytes[4..header].chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let expected: usize = shape.iter().product();
    let data = &bytes[header..];
    if data.len() != expected {
        return Err(format!("shape {shape:?} needs {expected} data bytes, found {} (truncated or padded file)", data.len()));
    }
    Ok((shape, data))
}

/// An IDX file of unsigned bytes with dimensions `shape`.
pub fn idx_bytes(shape: &[u32], data: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0x08, shape.len() as u8];
    bytes.extend(shape.iter().flat_map(|d| d.to_be_bytes()));
    bytes.extend_from_slice(data);
    bytes
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::idx_bytes as idx;

    #[test]
    fn written_idx_files_load_back_as_the_same_data() {
        let split = |n: u8| Split { images: (0..n).flat_map(|i| vec![i; PIXELS]).collect(), labels: (0..n).map(|i| i % 10).collect() };
        let provenance = Provenance {
            dir: PathBuf::new(),
            official: false,
            files: vec![],
            fingerprint: String::new(),
            data_set: DataSet::identify(&[]),
        };
        let mnist = Mnist { train: split(7), test: split(3), provenance };
        let dir = tempfile::tempdir().unwrap();
        mnist.write_idx(dir.path()).unwrap();
        let back = Mnist::load(dir.path(), false).unwrap();
        assert_eq!((back.train.images, back.train.labels), (mnist.train.images, mnist.train.labels));
        assert_eq!((back.test.images, back.test.labels), (mnist.test.images, mnist.test.labels));
    }

    #[test]
    fn a_held_out_split_is_disjoint_from_the_rest_and_covers_the_whole() {
        let split = Split { images: (0..50u8).flat_map(|i| vec![i; PIXELS]).collect(), labels: (0..50).collect() };
        let (rest, held) = split.hold_out(12, 3);
        assert_eq!((rest.len(), held.len()), (38, 12));
        let mut all: Vec<u8> = rest.labels.iter().chain(&held.labels).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..50).collect::<Vec<u8>>());
        assert!(held.labels.windows(2).all(|w| w[0] < w[1]), "kept in the original order");
        assert_eq!(held.image(0)[0], held.labels[0], "images travel with their labels");
        assert_ne!(split.hold_out(12, 4).1.labels, held.labels, "the seed chooses the images");
    }

    #[test]
    fn parses_a_well_formed_file() {
        let bytes = idx(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let (shape, data) = parse_idx(&bytes).unwrap();
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(data, &[1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn refuses_truncated_and_foreign_files() {
        let truncated = idx(&[2, 3], &[1, 2, 3]);
        assert!(parse_idx(&truncated).unwrap_err().contains("needs 6 data bytes, found 3"));
        let mut float = idx(&[1], &[0, 0, 0, 0]);
        float[2] = 0x0d;
        assert!(parse_idx(&float).unwrap_err().contains("not unsigned byte"));
        assert!(parse_idx(b"PK\x03\x04").unwrap_err().contains("not an IDX file"));
        assert!(parse_idx(&[0, 0, 8, 3, 0, 0]).unwrap_err().contains("announces 3 dimensions"));
    }

    #[test]
    fn a_file_that_decompresses_beyond_mnist_size_is_refused_not_read_whole() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("train-labels-idx1-ubyte.gz");
        let mut encoder = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..=(MAX_IDX_BYTES >> 20) {
            encoder.write_all(&zeros).unwrap();
        }
        encoder.finish().unwrap();
        assert!(std::fs::metadata(&gz).unwrap().len() < 4 << 20, "a small bomb");
        let err = read_maybe_gz(dir.path(), "train-labels-idx1-ubyte").unwrap_err().to_string();
        assert!(err.contains("holds more than 376 MB: not an MNIST-sized IDX file"), "{err}");
    }

    fn write_dataset(dir: &Path, n_train: u32, n_test: u32) {
        let image = |n: u32| idx(&[n, 28, 28], &vec![7u8; (n * 784) as usize]);
        let labels = |n: u32| idx(&[n], &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>());
        std::fs::write(dir.join(TRAIN_IMAGES.name), image(n_train)).unwrap();
        std::fs::write(dir.join(TRAIN_LABELS.name), labels(n_train)).unwrap();
        std::fs::write(dir.join(TEST_IMAGES.name), image(n_test)).unwrap();
        std::fs::write(dir.join(TEST_LABELS.name), labels(n_test)).unwrap();
    }

    #[test]
    fn loads_a_custom_directory_and_records_its_checksums() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 20, 10);
        let data = Mnist::load(dir.path(), false).unwrap();
        assert_eq!(data.train.len(), 20);
        assert_eq!(data.test.len(), 10);
        assert_eq!(data.test.class_counts(), [1; 10]);
        assert!(!data.provenance.official);
        assert_eq!(data.provenance.files.len(), 4);
        // Enforcing the official checksums refuses the same files, naming one.
        let err = Mnist::load(dir.path(), true).unwrap_err().to_string();
        assert!(err.contains("train-images-idx3-ubyte: checksum mismatch"), "{err}");
        assert!(err.contains("ba891046e6505d7a"), "{err}");
    }

    #[test]
    fn names_a_missing_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 2, 2);
        std::fs::remove_file(dir.path().join(TEST_LABELS.name)).unwrap();
        let err = Mnist::load(dir.path(), false).unwrap_err().to_string();
        assert!(err.starts_with("t10k-labels-idx1-ubyte: not found"), "{err}");
        assert!(err.contains(&format!("Check --data-dir {}", dir.path().display())), "{err}");
        assert!(!err.contains("Restore data/mnist/"), "not the embedded data: {err}");
    }

    #[test]
    fn a_count_mismatch_names_the_file_as_it_is_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 3, 2);
        let labels = std::fs::read(dir.path().join(TRAIN_LABELS.name)).unwrap();
        std::fs::remove_file(dir.path().join(TRAIN_LABELS.name)).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &idx(&[2], &labels[8..10])).unwrap();
        std::fs::write(dir.path().join("train-labels-idx1-ubyte.gz"), gz.finish().unwrap()).unwrap();
        let err = Mnist::load(dir.path(), false).unwrap_err().to_string();
        assert!(err.contains("train-labels-idx1-ubyte.gz: 2 labels for 3 images"), "{err}");
    }

    #[test]
    fn refuses_a_truncated_gzip_file() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 2, 2);
        let gz = std::fs::read(Path::new(EMBEDDED_DIR).join("t10k-labels-idx1-ubyte.gz")).unwrap();
        std::fs::write(dir.path().join("t10k-labels-idx1-ubyte.gz"), &gz[..gz.len() / 2]).unwrap();
        let err = anyhow::Error::from(Mnist::load(dir.path(), false).unwrap_err());
        let said = format!("{err:#}");
        assert!(said.contains("t10k-labels-idx1-ubyte.gz: is not a complete gzip stream"), "{said}");
        assert!(!said.contains("shared/mnist"), "names no directory the user may not have: {said}");
        assert_eq!(said.matches(&err.root_cause().to_string()).count(), 1, "the cause once: {said}");
    }

    #[test]
    fn the_embedded_data_is_the_official_mnist() {
        let data = Mnist::load_embedded().unwrap();
        assert_eq!((data.train.len(), data.test.len()), (60_000, 10_000));
        assert_eq!(data.train.class_counts(), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
        assert_eq!(data.test.class_counts(), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    }

    #[test]
    fn subsets_are_reproducible_and_ordered() {
        let split = Split { images: (0..20 * PIXELS).map(|i| (i / PIXELS) as u8).collect(), labels: (0..20).collect() };
        let a = split.subset(5, 42);
        assert_eq!(a.labels, split.subset(5, 42).labels);
        assert_ne!(a.labels, split.subset(5, 43).labels);
        assert!(a.labels.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(a.image(0)[0], a.labels[0]);
    }

    #[test]
    fn a_data_set_is_known_by_its_files_checksums() {
        let mnist = DataSet::identify(&[TRAIN_IMAGES.sha256, TRAIN_LABELS.sha256, TEST_IMAGES.sha256, TEST_LABELS.sha256]);
        assert_eq!((mnist.name.as_str(), mnist.digits, mnist.item.as_str(), mnist.class_names[7].as_str()), ("MNIST", true, "digit", "7"));
        let fashion = DataSet::identify(&FASHION_MNIST_SHA256);
        assert_eq!((fashion.name.as_str(), fashion.digits, fashion.items.as_str()), ("Fashion-MNIST", false, "garments"));
        assert_eq!(fashion.class_names[9], "Ankle boot");
        let mut edited = FASHION_MNIST_SHA256;
        edited[1] = TRAIN_LABELS.sha256;
        let other = DataSet::identify(&edited);
        assert_eq!((other.digits, other.item.as_str(), other.class_names[3].as_str()), (false, "sample", "class 3"));
        assert_eq!(Mnist::load_embedded().unwrap().provenance.data_set, mnist);
        let debian = Path::new("/usr/share/datasets/fashion-mnist");
        if debian.is_dir() {
            assert_eq!(Mnist::load(debian, false).unwrap().provenance.data_set, fashion);
        } else {
            eprintln!("skipped loading Fashion-MNIST: {} is absent (Debian's dataset-fashion-mnist)", debian.display());
        }
    }
}
