// What makes a checkpoint a reranker, shared by the presets, the HF loader and the HF writer.
//   - Qwen3-Reranker is a plain Qwen3ForCausalLM whose relevance score is the probability of
//     "yes" over "no" as the next token; llama.cpp's converter (conversion/qwen.py) keeps only
//     those two rows of the LM head as cls.output ("yes" first) and writes this rerank prompt.
//   - A BERT cross-encoder (BertForSequenceClassification) scores with one logit: the [CLS] state
//     through the pooler (dense and tanh) and the classifier.
#pragma once

#include <string_view>

namespace hearth {

// The prompt llama.cpp's converter writes into Qwen3-Reranker files (tokenizer.chat_template.rerank):
// the model card's instruction format, the answer left to a "yes"/"no" after an empty think block.
inline constexpr std::string_view kQwen3RerankTemplate =
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct "
    "provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n<Instruct>: Given "
    "a web search query, retrieve relevant passages that answer the query\n<Query>: {query}\n<Document>: "
    "{document}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";

// The tokens whose LM-head rows become a Qwen3-Reranker's two classes, in cls.output's order.
inline constexpr std::string_view kQwen3RerankClasses[] = {"yes", "no"};

}  // namespace hearth
