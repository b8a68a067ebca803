from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Item(_message.Message):
    __slots__ = ("item_id", "title", "category", "brand", "description")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    BRAND_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    title: str
    category: str
    brand: str
    description: str
    def __init__(self, item_id: _Optional[str] = ..., title: _Optional[str] = ..., category: _Optional[str] = ..., brand: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class RecommendOptions(_message.Message):
    __slots__ = ("filter_by_category", "rerank", "rerank_candidates", "keep_near_duplicates")
    FILTER_BY_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    RERANK_FIELD_NUMBER: _ClassVar[int]
    RERANK_CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    KEEP_NEAR_DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    filter_by_category: bool
    rerank: bool
    rerank_candidates: int
    keep_near_duplicates: bool
    def __init__(self, filter_by_category: _Optional[bool] = ..., rerank: _Optional[bool] = ..., rerank_candidates: _Optional[int] = ..., keep_near_duplicates: _Optional[bool] = ...) -> None: ...

class RecommendRequest(_message.Message):
    __slots__ = ("item", "k", "min_score", "options")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    item: Item
    k: int
    min_score: float
    options: RecommendOptions
    def __init__(self, item: _Optional[_Union[Item, _Mapping]] = ..., k: _Optional[int] = ..., min_score: _Optional[float] = ..., options: _Optional[_Union[RecommendOptions, _Mapping]] = ...) -> None: ...

class RecommendedKeyphrase(_message.Message):
    __slots__ = ("rank", "keyphrase_id", "text", "category", "source", "bi_encoder_score", "cross_encoder_score")
    RANK_FIELD_NUMBER: _ClassVar[int]
    KEYPHRASE_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    BI_ENCODER_SCORE_FIELD_NUMBER: _ClassVar[int]
    CROSS_ENCODER_SCORE_FIELD_NUMBER: _ClassVar[int]
    rank: int
    keyphrase_id: str
    text: str
    category: str
    source: str
    bi_encoder_score: float
    cross_encoder_score: float
    def __init__(self, rank: _Optional[int] = ..., keyphrase_id: _Optional[str] = ..., text: _Optional[str] = ..., category: _Optional[str] = ..., source: _Optional[str] = ..., bi_encoder_score: _Optional[float] = ..., cross_encoder_score: _Optional[float] = ...) -> None: ...

class StageTimings(_message.Message):
    __slots__ = ("embed_ms", "search_ms", "rerank_ms", "total_ms")
    EMBED_MS_FIELD_NUMBER: _ClassVar[int]
    SEARCH_MS_FIELD_NUMBER: _ClassVar[int]
    RERANK_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    embed_ms: float
    search_ms: float
    rerank_ms: float
    total_ms: float
    def __init__(self, embed_ms: _Optional[float] = ..., search_ms: _Optional[float] = ..., rerank_ms: _Optional[float] = ..., total_ms: _Optional[float] = ...) -> None: ...

class RecommendResponse(_message.Message):
    __slots__ = ("item_id", "keyphrases", "model_version", "index_collection", "timings")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    KEYPHRASES_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    INDEX_COLLECTION_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    keyphrases: _containers.RepeatedCompositeFieldContainer[RecommendedKeyphrase]
    model_version: str
    index_collection: str
    timings: StageTimings
    def __init__(self, item_id: _Optional[str] = ..., keyphrases: _Optional[_Iterable[_Union[RecommendedKeyphrase, _Mapping]]] = ..., model_version: _Optional[str] = ..., index_collection: _Optional[str] = ..., timings: _Optional[_Union[StageTimings, _Mapping]] = ...) -> None: ...

class BatchRecommendRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[RecommendRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[RecommendRequest, _Mapping]]] = ...) -> None: ...

class BatchRecommendResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[RecommendResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[RecommendResponse, _Mapping]]] = ...) -> None: ...
