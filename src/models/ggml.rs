//! Facts about ggml's tensor types: the bytes a tensor takes, and the quantization a
//! GGUF file's `general.file_type` names.

/// Quantization named by a `general.file_type` value, e.g. "Q4_0".
pub fn file_type_name(file_type: i128) -> Option<&'static str> {
    let name = match file_type {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K",
        11 => "Q3_K_S",
        12 => "Q3_K_M",
        13 => "Q3_K_L",
        14 => "Q4_K_S",
        15 => "Q4_K_M",
        16 => "Q5_K_S",
        17 => "Q5_K_M",
        18 => "Q6_K",
        19 => "IQ2_XXS",
        20 => "IQ2_XS",
        21 => "Q2_K_S",
        22 => "IQ3_XS",
        23 => "IQ3_XXS",
        24 => "IQ1_S",
        25 => "IQ4_NL",
        26 => "IQ3_S",
        27 => "IQ3_M",
        28 => "IQ2_S",
        29 => "IQ2_M",
        30 => "IQ4_XS",
        31 => "IQ1_M",
        32 => "BF16",
        36 => "TQ1_0",
        37 => "TQ2_0",
        38 => "MXFP4",
        _ => return None,
    };
    Some(name)
}

/// Bytes taken by `elements` values of ggml type `ty`, or why the type is unusable.
pub fn tensor_bytes(ty: u32, elements: u64) -> Result<u64, String> {
    if ty >= llama_cpp_sys_2::GGML_TYPE_COUNT {
        return Err(format!(
            "unknown tensor type {ty}: the file may need a newer llama.cpp"
        ));
    }
    // SAFETY: `ty` is below GGML_TYPE_COUNT, so both lookups index ggml's type table.
    let (block, size) = unsafe {
        (
            llama_cpp_sys_2::ggml_blck_size(ty),
            llama_cpp_sys_2::ggml_type_size(ty),
        )
    };
    if block <= 0 || size == 0 {
        return Err(format!(
            "tensor type {ty} is no longer supported by llama.cpp"
        ));
    }
    let block = block as u64;
    if !elements.is_multiple_of(block) {
        return Err(format!(
            "tensor of {elements} elements does not fill blocks of {block}"
        ));
    }
    (elements / block)
        .checked_mul(size as u64)
        .ok_or_else(|| "tensor size overflows".to_string())
}
