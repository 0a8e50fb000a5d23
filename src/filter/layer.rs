//! A loaded layer as what a filter plan reads.

use super::plan::{Shape, Source};
use crate::layer::column::Column;
use crate::layer::Layer;

impl Source for Layer {
    fn column(&self, position: usize) -> &Column {
        Layer::column(self, position)
    }

    fn feature_id(&self, idx: u32) -> &str {
        Layer::feature_id(self, idx)
    }

    fn shape(&self, idx: u32) -> Option<Shape<'_>> {
        Layer::shape(self, idx)
    }
}
